"""The blog's lab, built on this machine for the seed-script scenario tests.

The seed scripts talk to fixed addresses (Docker API 10.0.0.134:2376, InfluxDB 10.0.0.50:8086,
BGP router 10.0.0.254, switches at AGENT:8080, rules.emergingthreats.net). The lab puts those
addresses into network namespaces the tests create and remove, so no packet for 10.x ever
touches the machine's own network:

- ``netns``: namespaces, the veth between them, running Python code or a child process inside
  a namespace (``Lab``, ``in_netns``).
- ``certs``: a test CA, the Docker server/client certificates, the block-list server certificate.
- ``servers``: Docker API (TLS, client certificate required), block-list HTTPS server, switch
  ACL REST server.
- ``influx``: a real InfluxDB 1.x (Debian ``influxdb``) in the lab namespace.
- ``agents``: sFlow host/container counter agents and flow samples sent from lab addresses.
- ``flowrt``: flowrt started with ``./start.sh`` in its namespace, with /tls/ and /etc/hosts
  of its own (private mount namespace).
"""
