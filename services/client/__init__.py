"""Python client of the causalmol API. Plain HTTP (requests, tenacity): no RDKit, scikit-learn or DoWhy needed.

    from services.client import Client, to_dataframe
    client = Client("http://127.0.0.1:8000")
    results = client.predict("akt1@1", ["Nc1ncnc2[nH]ccc12", ("my-id", "CCO")])
    frame = to_dataframe(results)  # needs pandas
"""

from services.client.client import Client
from services.client.errors import CausalmolError, JobFailed
from services.client.results import to_dataframe, to_records

__all__ = ["CausalmolError", "Client", "JobFailed", "to_dataframe", "to_records"]
