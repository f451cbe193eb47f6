"""The analyzer runtime: the plugin interface and its runner, discovery, the model store, and
the consumer stage that turns a batch into a partial result."""
