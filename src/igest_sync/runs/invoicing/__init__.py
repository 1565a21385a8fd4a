"""invoice and resend: discover the paid orders, issue each one exactly once (issuer), follow up
(link-back, email), the intra-EU check, the report, and serve's webhook hints."""
