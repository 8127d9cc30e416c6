# The home-timelines table: one item per (owner, post), on demand, encrypted with a
# customer-managed key, point-in-time recovery on.
variable "name" {
  type        = string
  description = "Table name (MURMUR_AWS__TIMELINES_TABLE)"
}

variable "kms_key_arn" {
  type        = string
  description = "Customer-managed KMS key for encryption at rest"
}

variable "tags" {
  type    = map(string)
  default = {}
}

resource "aws_dynamodb_table" "timelines" {
  name         = var.name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "owner"
  range_key    = "post"

  attribute {
    name = "owner"
    type = "S"
  }

  attribute {
    name = "post"
    type = "N"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  deletion_protection_enabled = true
  tags                        = var.tags
}

output "name" {
  value = aws_dynamodb_table.timelines.name
}

output "arn" {
  value = aws_dynamodb_table.timelines.arn
}
