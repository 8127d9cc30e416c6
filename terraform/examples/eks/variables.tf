variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "name" {
  type        = string
  default     = "murmur"
  description = "Prefix of every resource"
}

variable "namespace" {
  type        = string
  default     = "murmur"
  description = "The Kubernetes namespace the chart is installed into"
}

variable "release" {
  type        = string
  default     = "murmur"
  description = "The Helm release name (the chart names ServiceAccounts <release>-api, -worker, -operator)"
}

variable "vpc_id" {
  type = string
}

variable "private_subnet_ids" {
  type = list(string)
}

variable "cluster_security_group_id" {
  type        = string
  description = "The EKS nodes' security group: the only source allowed to reach the stores"
}

variable "oidc_provider_arn" {
  type = string
}

variable "oidc_provider_url" {
  type        = string
  description = "The cluster's OIDC issuer, without https://"
}

variable "redis_auth_token" {
  type      = string
  sensitive = true
}

variable "documentdb_username" {
  type    = string
  default = "murmur"
}

variable "documentdb_password" {
  type      = string
  sensitive = true
}
