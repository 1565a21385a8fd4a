"""igest-sync: AT-certified iGEST invoices for paid Jumpseller orders, exactly once."""

__version__ = "0.1.0"
