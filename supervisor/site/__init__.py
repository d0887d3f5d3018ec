"""The YAML site model: reading mounts, validating the site, reporting every problem precisely."""
