#!/bin/sh
# taichu-svc: keeps the installer's services running on machines without systemd.
#   taichu-svc start NAME | stop NAME | restart NAME | status NAME
# NAME's definition is the executable $DEFS/NAME (it ends with `exec the-binary ...`).
# `start` detaches a small loop per service (setsid, nohup) that runs the definition and
# runs it again when it dies. Pid files hold "pid starttime" (so a recycled pid is never
# taken for the service); logs go to $LOGS/NAME.log, copied to NAME.log.1 and truncated
# when over $LOG_MAX bytes. POSIX sh and coreutils only: the machine may have no Python.
set -u
DEFS=${TAICHU_SVC_DEFS:-/etc/taichu/services}
RUN=${TAICHU_SVC_RUN:-/run/taichu}
LOGS=${TAICHU_SVC_LOGS:-/var/log/taichu}
LOG_MAX=${TAICHU_SVC_LOG_MAX:-20971520}
POLL=${TAICHU_SVC_POLL:-1}
STOP_WAIT=${TAICHU_SVC_STOP_WAIT:-20}

die() { echo "taichu-svc: $*" >&2; exit 2; }

starttime() { # pid -> its start time in clock ticks (field 22 of /proc/PID/stat); fails
  # for a zombie (dead, not yet reaped), which kill -0 would still find
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }   # drop "pid (comm) ": comm may hold spaces and parentheses
  set -- $s
  [ "$1" = Z ] && return 1
  shift 19
  echo "$1"
}

alive() { # pidfile -> 0 when the process it names still runs
  [ -f "$1" ] || return 1
  read -r p t < "$1" 2>/dev/null || return 1
  [ -n "${p:-}" ] && [ "$(starttime "$p" 2>/dev/null)" = "${t:-}" ]
}

record() { # pid pidfile
  t=$(starttime "$1") || return 1
  echo "$1 $t" > "$2.tmp" && mv -f "$2.tmp" "$2"
}

pid_of() { read -r p _ < "$1" 2>/dev/null && echo "$p"; }

rotate() {
  f=$LOGS/$1.log
  [ -f "$f" ] || return 0
  size=$(wc -c < "$f" 2>/dev/null) || return 0
  if [ "$size" -gt "$LOG_MAX" ]; then
    # copy and truncate: the service keeps its O_APPEND descriptor and writes from 0 again.
    # NAME.log.1 appears only once NAME.log is truncated, so a reader never sees both full.
    cp -f "$f" "$f.1.part" && : > "$f" && mv -f "$f.1.part" "$f.1"
  fi
}

note() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) taichu-svc: $*" >> "$LOGS/$NAME.log"; }

loop() { # runs detached: keeps NAME's process alive
  record $$ "$RUN/$NAME.loop.pid" || exit 1
  delay=1
  while :; do
    started=$(date +%s)
    "$DEFS/$NAME" >> "$LOGS/$NAME.log" 2>&1 < /dev/null &
    child=$!
    record "$child" "$RUN/$NAME.pid"
    while starttime "$child" > /dev/null; do
      sleep "$POLL"
      rotate "$NAME"
    done
    wait "$child"
    status=$?
    rm -f "$RUN/$NAME.pid"
    # a service that keeps dying at once is restarted less and less often (up to 30 s)
    if [ $(( $(date +%s) - started )) -ge 60 ]; then delay=1; fi
    note "$NAME exited with status $status; starting it again in ${delay}s"
    sleep "$delay"
    delay=$(( delay * 2 )); [ "$delay" -gt 30 ] && delay=30
  done
}

stop_pidfile() { # pidfile: TERM, wait, KILL
  alive "$1" || { rm -f "$1"; return 0; }
  p=$(pid_of "$1")
  kill -TERM "$p" 2>/dev/null
  i=0
  while alive "$1" && [ "$i" -lt $(( STOP_WAIT * 5 )) ]; do sleep 0.2; i=$((i + 1)); done
  if alive "$1"; then
    kill -KILL "$p" 2>/dev/null
    i=0
    while alive "$1" && [ "$i" -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
  fi
  alive "$1" && return 1
  rm -f "$1"
}

stop() {
  # The loop first, so it does not start the service again.
  stop_pidfile "$RUN/$NAME.loop.pid" || die "$NAME: its supervisor loop does not die"
  stop_pidfile "$RUN/$NAME.pid" || die "$NAME: the process does not die even on KILL"
}

start() {
  [ -x "$DEFS/$NAME" ] || die "$NAME: no service definition $DEFS/$NAME"
  alive "$RUN/$NAME.loop.pid" && return 0
  # A service left running by a loop that died (killed -9) would run twice: stop it.
  stop_pidfile "$RUN/$NAME.pid" || die "$NAME: a stray process does not die"
  mkdir -p "$RUN" "$LOGS"
  rotate "$NAME"
  if command -v setsid > /dev/null 2>&1; then
    setsid nohup sh "$0" _loop "$NAME" > /dev/null 2>&1 < /dev/null &
  else
    nohup sh "$0" _loop "$NAME" > /dev/null 2>&1 < /dev/null &
  fi
  i=0
  while ! alive "$RUN/$NAME.pid"; do
    if [ "$i" -ge 100 ]; then
      die "$NAME: did not start within 20 s; its log ends: $(tail -n 5 "$LOGS/$NAME.log" 2>/dev/null)"
    fi
    i=$((i + 1))
    sleep 0.2
  done
}

status() {
  if alive "$RUN/$NAME.loop.pid"; then
    if alive "$RUN/$NAME.pid"; then echo "running $(pid_of "$RUN/$NAME.pid")"; else echo restarting; fi
  elif alive "$RUN/$NAME.pid"; then
    echo "unsupervised $(pid_of "$RUN/$NAME.pid")"
  else
    echo stopped
  fi
}

[ $# -eq 2 ] || die "usage: taichu-svc start|stop|restart|status NAME"
NAME=$2
case $NAME in *[!a-z0-9-]* | '') die "bad service name: $NAME" ;; esac
case $1 in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) status ;;
  _loop) loop ;;
  *) die "unknown command $1" ;;
esac
