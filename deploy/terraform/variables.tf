# Inputs, named after the variables the hokusai ECS services already use (REDIS_HOST, REDIS_PORT,
# the Secrets Manager ARN of REDIS_AUTH_TOKEN), so the module takes the same values.

# ---------------------------------------------------------------- code

variable "code_s3_bucket" {
  description = "S3 bucket holding the zip built by `make package`."
  type        = string
}

variable "code_s3_key" {
  description = "Key of the zip; give each build its own key (e.g. with its sha256) so an update deploys new code."
  type        = string
}

variable "architecture" {
  description = "Must match the zip (make package ARCH=...); the wheels inside are built for it."
  type        = string
  default     = "x86_64"
  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "function_name" {
  description = "The spec's collector.function_name, so the dashboard's Lambda widgets find it."
  type        = string
  default     = "hokusai-queue-metrics"
  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name: 1-64 of A-Za-z0-9_-."
  }
}

# ---------------------------------------------------------------- what to watch

variable "monitor_env" {
  description = "The spec environment to collect (MONITOR_ENV), e.g. development."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*$", var.monitor_env))
    error_message = "monitor_env: lower-case letters, digits and '-', starting with a letter."
  }
}

variable "metric_namespace" {
  description = "The spec's namespace; the role may publish metrics only there."
  type        = string
  default     = "Hokusai/RedisQueues"
}

variable "redis_auth_token_secret_arn" {
  description = "Secrets Manager secret holding the Redis AUTH token (REDIS_AUTH_TOKEN in the ECS task); the only secret the role may read."
  type        = string
  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.redis_auth_token_secret_arn))
    error_message = "redis_auth_token_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "secret_kms_key_arn" {
  description = "Customer-managed KMS key that encrypts the secret, if any (null for the AWS-managed key)."
  type        = string
  default     = null
}

variable "redis_host" {
  description = "Overrides the spec's Redis host (REDIS_HOST) when set."
  type        = string
  default     = null
}

variable "redis_port" {
  description = "Redis port (REDIS_PORT); the only port the function may open besides 443."
  type        = number
  default     = 6379
  validation {
    condition     = var.redis_port >= 1 && var.redis_port <= 65535
    error_message = "redis_port must be 1-65535."
  }
}

# ---------------------------------------------------------------- network

variable "vpc_id" {
  description = "The VPC of the Redis replication group."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (two or more AZs) with a route to Redis and to NAT or the VPC endpoints."
  type        = list(string)
}

variable "redis_security_group_id" {
  description = "The Redis replication group's security group."
  type        = string
}

variable "add_redis_ingress_rule" {
  description = "Add an ingress rule to redis_security_group_id admitting the collector on redis_port."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------- running

variable "schedule_expression" {
  description = "How often to collect (the spec's collector.schedule); the heartbeat alarm assumes at least one run per 5 minutes."
  type        = string
  default     = "rate(1 minute)"
}

# Sizing and timeout: the reasons are in deploy/collector.yaml next to MemorySize and Timeout.
variable "memory_size" {
  description = "MB; CPU share grows with it (1769 MB = 1 vCPU)."
  type        = number
  default     = 256
  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be 128-10240."
  }
}

variable "timeout" {
  description = "Seconds; below the one-minute schedule, so a run ends before the next one starts."
  type        = number
  default     = 30
  validation {
    condition     = var.timeout >= 10 && var.timeout <= 55
    error_message = "timeout must be 10-55."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the function's log."
  type        = number
  default     = 30
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the log group and the function's environment variables (null: AWS-managed keys)."
  type        = string
  default     = null
}

variable "alarm_topic_arn" {
  description = "SNS topic for the collector's own alarms (errors, throttles, duration near the timeout)."
  type        = string
  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be an SNS topic ARN."
  }
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
