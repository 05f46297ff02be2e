# make up STRATEGY=milestone: terraform apply -var-file=presets/milestone.tfvars (the trainer's own
# strategy parameters live in spotshield/trainer/presets/strategies/milestone.yaml).
strategy = "milestone"
