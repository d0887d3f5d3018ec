"""The AMI connection to Asterisk and the state fed by its events."""
