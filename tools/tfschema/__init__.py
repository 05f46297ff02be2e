"""A schema-only stand-in for the hashicorp/google Terraform provider.

It serves the provider's *real* schema (read from the jsii assembly inside the
PyPI package cdktn-provider-google) over the Terraform plugin protocol, so that
`terraform init/validate/test` run offline. It is not the real provider: it makes
no cloud calls, plans exactly what the configuration says, and "applies" by
echoing the plan back. See docs/validate.md.

Runs only inside the tools virtualenv (.venv-tools): the plugin framework `tf`
needs protobuf<6, which the project's own virtualenv cannot have.
"""
