"""The Jumpseller adapter: the client (one method per call) and the parsing of its wire JSON into
our models."""
