# The redis-queue-monitor collector as a Terraform module: the same resources as
# deploy/collector.yaml (see docs/infrastructure-as-code.md). Checked in the test suite with a real
# HCL parser (python-hcl2: every var./local./data./resource reference resolves) and checkov; no
# terraform binary is run there, so run `terraform validate` once in your own pipeline.
terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}
