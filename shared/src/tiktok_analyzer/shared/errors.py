"""One root exception, typed subclasses; callers catch what they can act on."""


class AnalyzerSystemError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(AnalyzerSystemError):
    """A setting or analyzer configuration is invalid."""


class PayloadError(AnalyzerSystemError):
    """A frame or audio payload cannot be stored or read back."""


class MediaRejected(AnalyzerSystemError):
    """The media gate refuses an input; the message is the human-readable reason."""


class WeightsMissing(AnalyzerSystemError):
    """An analyzer's pretrained weights are not in the model store."""
