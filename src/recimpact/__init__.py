"""recimpact: measure the business impact of recommendations, the way Amazon Personalize metric attribution does.

The package is layered and data flows one way: ``wire`` (HTTP and the AWS protocols) calls ``services`` (one module
per AWS operation family), recimpact's own read API (``analysis``) and, in the background, ``jobs``; these apply the
rules of ``domain`` and keep state in ``store``. The README's Layout lists every layer.
"""

__version__ = "0.1.0"
