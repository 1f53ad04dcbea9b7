// The baseline of bench/startup.ts: what tsx costs on a module that does nothing.
export {};
