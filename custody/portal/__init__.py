"""The portal face of ``custody``: a client's standing authorisations (业务授权) for a platform and
the bank's confirmation pages (R-DEP-02, R-DEP-04)."""
