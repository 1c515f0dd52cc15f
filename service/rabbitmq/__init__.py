"""The RabbitMQ adapter's shared part: declaring the contract's topology on a connection."""
