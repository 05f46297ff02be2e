# make up STRATEGY=adaptive: terraform apply -var-file=presets/adaptive.tfvars (the trainer's own
# strategy parameters live in spotshield/trainer/presets/strategies/adaptive.yaml).
strategy = "adaptive"
