# Everything Murmur's cloud shape needs beside the EKS cluster, wired together; the
# outputs are the chart's values (helm_values) for these endpoints.
data "aws_caller_identity" "current" {}

locals {
  tags = { "app.kubernetes.io/part-of" = "murmur" }
  queues = {
    express = "${var.name}-fanout.fifo"
    bulk    = "${var.name}-fanout-bulk.fifo"
    dlq     = "${var.name}-fanout-dlq.fifo"
  }
}

resource "aws_kms_key" "murmur" {
  description         = "Murmur's data at rest: timelines, queues, cache, graph, documents"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.kms.json
  tags                = local.tags
}

data "aws_iam_policy_document" "kms" {
  # A key policy's "*" resource is the key itself, and the account root statement is the
  # AWS default that lets IAM policies (the IRSA roles below) grant use of the key:
  #checkov:skip=CKV_AWS_356:in a key policy the resource "*" means this key only
  #checkov:skip=CKV_AWS_111:the account's own root principal, as AWS's default key policy
  #checkov:skip=CKV_AWS_109:the account's own root principal, as AWS's default key policy
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" is this key
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_security_group" "stores" {
  name        = "${var.name}-stores"
  description = "Murmur's stores: reachable from the EKS nodes only"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "from_cluster" {
  for_each = {
    redis      = 6379
    neptune    = 8182
    documentdb = 27017
  }
  security_group_id            = aws_security_group.stores.id
  description                  = "${each.key} from the EKS nodes"
  referenced_security_group_id = var.cluster_security_group_id
  from_port                    = each.value
  to_port                      = each.value
  ip_protocol                  = "tcp"
}

module "timelines" {
  source      = "../../modules/dynamodb_timelines"
  name        = "${var.name}-timelines"
  kms_key_arn = aws_kms_key.murmur.arn
  tags        = local.tags
}

module "fanout" {
  source                 = "../../modules/sqs_fanout"
  express_queue_name     = local.queues.express
  bulk_queue_name        = local.queues.bulk
  dead_letter_queue_name = local.queues.dlq
  kms_key_arn            = aws_kms_key.murmur.arn
  tags                   = local.tags
}

module "redis" {
  source             = "../../modules/elasticache_redis"
  name               = "${var.name}-redis"
  subnet_ids         = var.private_subnet_ids
  security_group_ids = [aws_security_group.stores.id]
  auth_token         = var.redis_auth_token
  kms_key_arn        = aws_kms_key.murmur.arn
  tags               = local.tags
}

module "graph" {
  source             = "../../modules/neptune"
  name               = "${var.name}-graph"
  subnet_ids         = var.private_subnet_ids
  security_group_ids = [aws_security_group.stores.id]
  kms_key_arn        = aws_kms_key.murmur.arn
  tags               = local.tags
}

module "documents" {
  source             = "../../modules/documentdb"
  name               = "${var.name}-documents"
  subnet_ids         = var.private_subnet_ids
  security_group_ids = [aws_security_group.stores.id]
  master_username    = var.documentdb_username
  master_password    = var.documentdb_password
  kms_key_arn        = aws_kms_key.murmur.arn
  tags               = local.tags
}

# --- one IRSA role per component, least privilege ---------------------------------------
locals {
  neptune_arn = "arn:aws:neptune-db:${var.region}:${data.aws_caller_identity.current.account_id}:${module.graph.resource_id}/*"
}

data "aws_iam_policy_document" "api" {
  statement {
    sid       = "Timelines"
    actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:DescribeTable"]
    resources = [module.timelines.arn]
  }
  statement {
    sid       = "PublishFanout"
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = module.fanout.lane_arns
  }
  statement {
    sid       = "Graph"
    actions   = ["neptune-db:connect", "neptune-db:ReadDataViaQuery", "neptune-db:WriteDataViaQuery", "neptune-db:DeleteDataViaQuery"]
    resources = [local.neptune_arn]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.murmur.arn]
  }
}

data "aws_iam_policy_document" "worker" {
  statement {
    sid       = "Timelines"
    actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:DescribeTable"]
    resources = [module.timelines.arn]
  }
  statement {
    sid       = "ConsumeFanout"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = module.fanout.queue_arns
  }
  statement {
    sid       = "ReadGraph"
    actions   = ["neptune-db:connect", "neptune-db:ReadDataViaQuery"]
    resources = [local.neptune_arn]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.murmur.arn]
  }
}

data "aws_iam_policy_document" "operator" {
  statement {
    sid       = "QueueDepth"
    actions   = ["sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = module.fanout.lane_arns
  }
}

module "role" {
  for_each = {
    api      = data.aws_iam_policy_document.api.json
    worker   = data.aws_iam_policy_document.worker.json
    operator = data.aws_iam_policy_document.operator.json
  }
  source            = "../../modules/irsa_role"
  name              = "${var.name}-${each.key}"
  oidc_provider_arn = var.oidc_provider_arn
  oidc_provider_url = var.oidc_provider_url
  namespace         = var.namespace
  service_account   = "${var.release}-${each.key}"
  policy_json       = each.value
  tags              = local.tags
}
