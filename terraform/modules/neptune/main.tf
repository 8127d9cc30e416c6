# The follow graph: a Neptune cluster reached over Bolt/openCypher, IAM authentication on
# (the pods sign with their IRSA role), encrypted, backed up, logs to CloudWatch.
variable "name" {
  type = string
}

variable "subnet_ids" {
  type = list(string)
}

variable "security_group_ids" {
  type = list(string)
}

variable "kms_key_arn" {
  type = string
}

variable "instance_class" {
  type    = string
  default = "db.r6g.large"
}

variable "tags" {
  type    = map(string)
  default = {}
}

resource "aws_neptune_subnet_group" "graph" {
  name       = var.name
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_neptune_cluster" "graph" {
  cluster_identifier                  = var.name
  engine                              = "neptune"
  iam_database_authentication_enabled = true
  storage_encrypted                   = true
  kms_key_arn                         = var.kms_key_arn
  neptune_subnet_group_name           = aws_neptune_subnet_group.graph.name
  vpc_security_group_ids              = var.security_group_ids
  backup_retention_period             = 7
  preferred_backup_window             = "03:00-04:00"
  deletion_protection                 = true
  copy_tags_to_snapshot               = true
  enable_cloudwatch_logs_exports      = ["audit"]
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.name}-final"
  tags                                = var.tags
}

resource "aws_neptune_cluster_instance" "graph" {
  count                      = 2
  identifier                 = "${var.name}-${count.index}"
  cluster_identifier         = aws_neptune_cluster.graph.id
  instance_class             = var.instance_class
  auto_minor_version_upgrade = true
  tags                       = var.tags
}

output "endpoint" {
  value = aws_neptune_cluster.graph.endpoint
}

output "port" {
  value = aws_neptune_cluster.graph.port
}

output "resource_id" {
  value = aws_neptune_cluster.graph.cluster_resource_id
}
