// The library ships no types: what the tests use of it.
declare module 'parse-prometheus-text-format' {
  /** One metric family of a scrape. */
  export interface ParsedFamily {
    name: string;
    help: string;
    type: string;
    metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string }[];
  }
  export default function parsePrometheusTextFormat(text: string): ParsedFamily[];
}
