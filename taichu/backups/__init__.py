"""Backups and restores of cluster contents, their schedules and storage backends."""
