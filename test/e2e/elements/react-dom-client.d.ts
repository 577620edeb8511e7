// The one react-dom entry the Elements page uses (react-dom ships no types; @types/react-dom is not needed for this).
declare module 'react-dom/client' {
  export function createRoot(container: Element): { render(children: unknown): void; unmount(): void }
}
