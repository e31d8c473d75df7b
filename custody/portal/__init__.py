"""The portal face of ``custody``: a client's standing authorisations (业务授权) for a platform."""
