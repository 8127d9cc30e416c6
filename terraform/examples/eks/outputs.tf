# The chart's values for these resources: `terraform output -json helm_values` gives a
# values file for `helm install murmur helm/murmur -f ...` (add existingSecret and images).
output "helm_values" {
  value = {
    config = {
      aws = {
        region          = var.region
        timelinesTable  = module.timelines.name
        fanoutQueue     = module.fanout.express_queue_name
        fanoutBulkQueue = module.fanout.bulk_queue_name
        deadLetterQueue = module.fanout.dead_letter_queue_name
      }
      neptune = {
        endpoint = module.graph.endpoint
        port     = module.graph.port
        iamAuth  = true
      }
      redis = {
        endpoint = module.redis.primary_endpoint
        tls      = true
      }
      documentdb = {
        retryWrites = false
      }
    }
    api      = { serviceAccount = { annotations = { "eks.amazonaws.com/role-arn" = module.role["api"].arn } } }
    worker   = { serviceAccount = { annotations = { "eks.amazonaws.com/role-arn" = module.role["worker"].arn } } }
    operator = { serviceAccount = { annotations = { "eks.amazonaws.com/role-arn" = module.role["operator"].arn } } }
  }
}

output "documentdb_endpoint" {
  description = "Host of the mongo-uri key in the chart's existingSecret (mongodb://USER:PASS@HOST:27017/?tls=true&retryWrites=false)"
  value       = module.documents.endpoint
}
