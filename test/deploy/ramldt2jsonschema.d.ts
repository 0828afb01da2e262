// The one call of ramldt2jsonschema (no bundled types) that test/deploy makes.
declare module 'ramldt2jsonschema' {
  export function dt2js(ramlData: string, typeName: string, options?: { basePath?: string; validate?: boolean }): Promise<Record<string, unknown>>;
}
