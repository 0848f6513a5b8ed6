export * from './io/index.ts';
export * from './nested.ts';
