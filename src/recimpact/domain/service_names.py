"""The AWS service names of Amazon Personalize's three clients, as botocore names them (``boto3.client(...)``, the
service models): the control plane, event ingestion and recommendations. Defined here, the lowest layer that needs
them (``domain.values`` reads the events model); services register their handlers under them, the wire routes by
them."""

CONTROL = "personalize"
EVENTS = "personalize-events"
RUNTIME = "personalize-runtime"
SERVICES = (CONTROL, EVENTS, RUNTIME)
