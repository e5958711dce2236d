"""Provider simulators (MercadoPago, Stripe) for pasarela's tests; see README.md here."""
