"""The Asterisk child process and the duties of PID 1."""
