# make up STRATEGY=naive: terraform apply -var-file=presets/naive.tfvars (the trainer's own
# strategy parameters live in spotshield/trainer/presets/strategies/naive.yaml).
strategy = "naive"
