"""HTTP routes, one module per concern; ``main.create_app`` includes their routers."""
