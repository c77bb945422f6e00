module taichu.local/pause

go 1.24
