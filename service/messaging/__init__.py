"""RabbitMQ: topology names and declaration, shared by migrate, the publisher and the worker."""
