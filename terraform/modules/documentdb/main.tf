# Users and posts: a DocumentDB cluster, TLS required (the pods mount the RDS CA bundle),
# encrypted, audit and profiler logs to CloudWatch. Murmur connects with retryWrites=false.
variable "name" {
  type = string
}

variable "subnet_ids" {
  type = list(string)
}

variable "security_group_ids" {
  type = list(string)
}

variable "master_username" {
  type = string
}

variable "master_password" {
  type      = string
  sensitive = true
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

resource "aws_docdb_subnet_group" "documents" {
  name       = var.name
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_docdb_cluster_parameter_group" "documents" {
  family = "docdb5.0"
  name   = var.name

  parameter {
    name  = "tls"
    value = "enabled"
  }

  parameter {
    name  = "audit_logs"
    value = "enabled"
  }
}

resource "aws_docdb_cluster" "documents" {
  cluster_identifier              = var.name
  engine                          = "docdb"
  master_username                 = var.master_username
  master_password                 = var.master_password
  db_subnet_group_name            = aws_docdb_subnet_group.documents.name
  db_cluster_parameter_group_name = aws_docdb_cluster_parameter_group.documents.name
  vpc_security_group_ids          = var.security_group_ids
  storage_encrypted               = true
  kms_key_id                      = var.kms_key_arn
  backup_retention_period         = 7
  deletion_protection             = true
  enabled_cloudwatch_logs_exports = ["audit", "profiler"]
  skip_final_snapshot             = false
  final_snapshot_identifier       = "${var.name}-final"
  tags                            = var.tags
}

resource "aws_docdb_cluster_instance" "documents" {
  count              = 2
  identifier         = "${var.name}-${count.index}"
  cluster_identifier = aws_docdb_cluster.documents.id
  instance_class     = var.instance_class
  tags               = var.tags
}

output "endpoint" {
  value = aws_docdb_cluster.documents.endpoint
}

output "port" {
  value = aws_docdb_cluster.documents.port
}
