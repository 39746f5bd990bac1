"""recimpact: measure the business impact of recommendations, the way Amazon Personalize metric attribution does.

The package is layered and data flows one way: ``wire`` (HTTP and the AWS protocols) calls ``services`` (one module
per operation family), which apply the rules of ``domain`` and keep state in ``store``.
"""

__version__ = "0.1.0"
