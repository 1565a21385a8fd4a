"""credit: credit notes on request (credit), the cancelled orders that need one (cancellations),
what a credit records and reports (report), and the history of an order's credits."""
