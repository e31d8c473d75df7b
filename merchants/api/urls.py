"""/api/v1/...: merchants' endpoints (signed; scopes ``merchant:<id>``)."""

app_name = "merchants_api"

urlpatterns: list = []
