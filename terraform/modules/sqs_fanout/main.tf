# The fan-out lanes (express and bulk, FIFO) and their dead-letter queue, encrypted with
# a customer-managed key; after max_receives deliveries a message goes to the DLQ. Every
# queue keeps messages 14 days, SQS's longest (the default, 4 days, could drop a starved
# chunk unseen; the worker sets the same when it creates the queues).
variable "express_queue_name" {
  type = string
}

variable "bulk_queue_name" {
  type = string
}

variable "dead_letter_queue_name" {
  type = string
}

variable "kms_key_arn" {
  type = string
}

variable "visibility_timeout_seconds" {
  type    = number
  default = 60 # MURMUR_WORKERS__VISIBILITY_TIMEOUT_SECONDS
}

variable "max_receives" {
  type    = number
  default = 5 # MURMUR_WORKERS__MAX_RECEIVES
}

variable "tags" {
  type    = map(string)
  default = {}
}

resource "aws_sqs_queue" "dead_letter" {
  name                              = var.dead_letter_queue_name
  fifo_queue                        = true
  message_retention_seconds         = 1209600
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

resource "aws_sqs_queue" "lane" {
  for_each = {
    express = var.express_queue_name
    bulk    = var.bulk_queue_name
  }
  name                              = each.value
  fifo_queue                        = true
  deduplication_scope               = "messageGroup"
  fifo_throughput_limit             = "perMessageGroupId"
  visibility_timeout_seconds        = var.visibility_timeout_seconds
  message_retention_seconds         = 1209600
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = var.max_receives
  })
  tags = var.tags
}

output "express_queue_name" {
  value = aws_sqs_queue.lane["express"].name
}

output "bulk_queue_name" {
  value = aws_sqs_queue.lane["bulk"].name
}

output "dead_letter_queue_name" {
  value = aws_sqs_queue.dead_letter.name
}

output "queue_arns" {
  value = [aws_sqs_queue.lane["express"].arn, aws_sqs_queue.lane["bulk"].arn, aws_sqs_queue.dead_letter.arn]
}

output "lane_arns" {
  value = [aws_sqs_queue.lane["express"].arn, aws_sqs_queue.lane["bulk"].arn]
}
