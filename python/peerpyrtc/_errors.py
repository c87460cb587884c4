"""The exception every peerpyrtc call raises for a request or a limit it refuses."""


class PeerRTCError(RuntimeError):
    """An API call refused, with the HTTP status to answer with.

    ``status`` is 400 (bad name, field or SDP), 403 (wrong token), 404 (unknown room or
    peer), 409 (peer id taken), 413 (message too large) or 503 (a limit reached, the
    network thread busy past ``api_timeout``, or the manager closed); ``message`` says why.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"PeerRTCError({self.status}, {self.message!r})"
