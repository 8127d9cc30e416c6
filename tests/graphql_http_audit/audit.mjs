// Runs graphql-http's audit of the GraphQL over HTTP spec against one URL and prints the
// results as JSON lines: {"id", "name", "status", "reason"} with status ok, warn or error.
import { auditServer } from "graphql-http";

const url = process.argv[2];
const results = await auditServer({ url });
for (const result of results) {
  const reason = result.status === "ok" ? "" : result.reason;
  console.log(JSON.stringify({ id: result.id, name: result.name, status: result.status, reason }));
}
