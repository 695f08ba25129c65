import type en from './en'

/** Widen turns en.ts's literal types into strings, keeping its shape. */
type Widen<T> = { [K in keyof T]: T[K] extends string ? string : Widen<T[K]> }

/** Messages is the shape every language must have: exactly en.ts's keys. */
export type Messages = Widen<typeof en>
