# make up STRATEGY=none: terraform apply -var-file=presets/none.tfvars (the trainer's own
# strategy parameters live in spotshield/trainer/presets/strategies/none.yaml).
strategy = "none"
