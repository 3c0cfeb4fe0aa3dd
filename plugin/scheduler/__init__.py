"""Scheduled work, run by exactly one `infoshare scheduler` process (never in
web workers). Timers live in Redmine (due dates, review dates) and in the
store (cursors) and are recomputed on every run, so a restart loses nothing."""
