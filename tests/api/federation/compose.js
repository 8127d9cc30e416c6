// Compose subgraph SDLs (JSON {name: sdl} on stdin) with Apollo's own composition library, as a
// federation router's build step would. Prints {"errors": [...], "types": {type: [fields]}} for
// the supergraph's API schema (what clients of the router see).
const { composeServices } = require("@apollo/composition");
const { parse, isObjectType, isInterfaceType } = require("graphql");

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const services = Object.entries(JSON.parse(input)).map(([name, sdl]) => ({
    name,
    url: `http://${name}.invalid/graphql`,
    typeDefs: parse(sdl),
  }));
  const result = composeServices(services);
  if (result.errors && result.errors.length) {
    console.log(JSON.stringify({ errors: result.errors.map((e) => e.message), types: {} }));
    return;
  }
  const api = result.schema.toAPISchema().toGraphQLJSSchema();
  const types = {};
  for (const [name, type] of Object.entries(api.getTypeMap())) {
    if (!name.startsWith("__") && (isObjectType(type) || isInterfaceType(type))) {
      types[name] = Object.keys(type.getFields()).sort();
    }
  }
  console.log(JSON.stringify({ errors: [], hints: (result.hints || []).map((h) => h.message), types }));
});
