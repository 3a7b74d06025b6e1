"""AWS edges: the Lambda API handler and the API Gateway authorizer."""
