"""TLS: the Secret's certificates and keys checked before Asterisk sees them (`certs`, `keyform`,
`limits`), what each tls transport really serves (`served`), and whether each provider's
certificate will be trusted (`providers`).

`certs` is pure (the site loader uses it); `served` and `providers` follow the live config
through small Protocols, so this package never imports the site model, the renderer or reload.
"""
