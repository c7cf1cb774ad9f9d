"""closeloop's domain: pure Python, no I/O.

The 1351 ladder (:mod:`domain.ladder`), the request lifecycle (:mod:`domain.lifecycle`),
the four-dimension review (:mod:`domain.review`), the request state and its events
(:mod:`domain.state`) and the event-sourced aggregate (:mod:`domain.aggregate`).
"""
