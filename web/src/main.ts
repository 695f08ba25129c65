import { createApp } from 'vue'
import { createPinia } from 'pinia'
import ElementPlus from 'element-plus'
import 'element-plus/dist/index.css'
import './style.css'
import App from './App.vue'
import { createConsoleI18n } from './i18n'
import { createConsoleRouter } from './router'

const pinia = createPinia()
const app = createApp(App)
app.use(pinia)
app.use(createConsoleI18n())
app.use(createConsoleRouter(pinia))
app.use(ElementPlus)
app.mount('#app')
