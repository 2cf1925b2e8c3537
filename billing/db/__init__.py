"""The billing database: schema, engine, migrations and exact-decimal SQL helpers."""
