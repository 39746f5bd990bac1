"""The rules of the system, with no HTTP and no SQL: resources, ARNs, schemas, expressions, errors."""
